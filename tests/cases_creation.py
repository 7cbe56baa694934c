"""Value cases for creation ops: zeros, ones, fill, range, eye, linspace (see support.Case)."""
import numpy as np

import graphjit as gj

from support import Case

DTYPES = (np.bool_, np.int32, np.int64, np.float32, np.float64)


def _eye_reference(rows, cols, dtype):
    return np.array([[i == j for j in range(cols)] for i in range(rows)]).astype(dtype)


CASES = []
for dt in DTYPES:
    name = np.dtype(dt).name
    CASES += [
        Case(("zeros",), lambda dt=dt: gj.zeros((2, 3), dt), (), lambda dt=dt: np.zeros((2, 3), dt),
             name=f"zeros-{name}"),
        Case(("ones",), lambda dt=dt: gj.ones([3], dtype=dt), (), lambda dt=dt: np.ones(3, dt), name=f"ones-{name}"),
        Case(("zeros",), gj.zeros_like, (np.arange(6).reshape(2, 3).astype(dt),),
             lambda x: np.zeros(x.shape, x.dtype), name=f"zeros_like-{name}"),
        Case(("ones",), gj.ones_like, (np.arange(4).astype(dt),), lambda x: np.ones(x.shape, x.dtype),
             name=f"ones_like-{name}"),
        Case(("fill",), lambda v: gj.fill((2, 2), v), (np.arange(1, 2).astype(dt).reshape(()),),
             lambda v: np.full((2, 2), v, v.dtype), name=f"fill-{name}"),
        Case(("eye",), lambda dt=dt: gj.eye(3, 4, dtype=dt), (), lambda dt=dt: _eye_reference(3, 4, dt),
             name=f"eye-{name}"),
    ]

CASES += [
    Case(("zeros",), lambda: gj.zeros((0, 3)), (), lambda: np.zeros((0, 3), np.float32), name="zeros-empty"),
    Case(("zeros",), lambda: gj.zeros(()), (), lambda: np.zeros((), np.float32), name="zeros-scalar-default-f32"),
    Case(("ones",), lambda x: gj.ones_like(x, dtype=gj.int64), (np.float32([1.5, 2.5]),),
         lambda x: np.ones(2, np.int64), name="ones_like-dtype"),
    Case(("zeros",), gj.zeros_like, (np.zeros((0,), bool),),
         lambda x: np.zeros(0, bool), name="zeros_like-empty"),
    Case(("fill",), lambda: gj.fill([2, 0], 1.5), (), lambda: np.zeros((2, 0), np.float32), name="fill-empty"),
    Case(("fill",), lambda: gj.fill([3], 7), (), lambda: np.array([7, 7, 7], np.int32), name="fill-python-int"),
    # range: TF's dtype inference and argument forms
    Case(("range",), lambda: gj.range(5), (), lambda: np.array([0, 1, 2, 3, 4], np.int32), name="range-limit"),
    Case(("range",), lambda: gj.range(2, -7, -3), (), lambda: np.array([2, -1, -4], np.int32), name="range-neg"),
    Case(("range",), lambda: gj.range(3, 1), (), lambda: np.zeros(0, np.int32), name="range-empty"),
    Case(("range",), lambda: gj.range(0, 1, 0.25), (), lambda: np.float32([0, 0.25, 0.5, 0.75]),
         name="range-float"),
    Case(("range",), lambda: gj.range(1, 2.5), (), lambda: np.float32([1, 2]), name="range-float-limit"),
    Case(("range",), lambda: gj.range(4, dtype=gj.float64), (), lambda: np.float64([0, 1, 2, 3]),
         name="range-dtype"),
    Case(("range",), lambda: gj.range(2 ** 40, 2 ** 40 + 3), (), lambda: np.int64([2 ** 40 + i for i in range(3)]),
         name="range-int64-values"),
    Case(("range",), lambda: gj.range(0.1, 0.45, 0.1, dtype=gj.float64), (),
         lambda: np.array([0.1 + 0.1 * i for i in range(4)]), rtol=1e-12, name="range-float64-frac"),
    # eye
    Case(("eye",), lambda: gj.eye(2), (), lambda: np.float32([[1, 0], [0, 1]]), name="eye-square"),
    Case(("eye",), lambda: gj.linalg.eye(3, 2, batch_shape=[2]), (),
         lambda: np.stack([_eye_reference(3, 2, np.float32)] * 2), name="eye-batch"),
    Case(("eye",), lambda: gj.eye(0, 3), (), lambda: np.zeros((0, 3), np.float32), name="eye-empty"),
    # linspace
    Case(("linspace",), lambda: gj.linspace(0, 1, 5), (), lambda: np.float32([0, 0.25, 0.5, 0.75, 1]),
         name="linspace-python"),
    Case(("linspace",), lambda: gj.linspace(-1.0, 1.0, 1), (), lambda: np.float32([-1]), name="linspace-one"),
    Case(("linspace",), lambda: gj.linspace(0.0, 1.0, 0), (), lambda: np.zeros(0, np.float32), name="linspace-0"),
    Case(("linspace",), lambda a, b: gj.linspace(a, b, 4, axis=-1), (np.float64([0, 1]), np.float64([3, -2])),
         lambda a, b: np.array([[a[k] + (b[k] - a[k]) * i / 3 for i in range(4)] for k in range(2)]),
         rtol=1e-14, name="linspace-vector-axis"),
    Case(("linspace",), lambda a, b: gj.linspace(a, b, 3), (np.float32(0.1), np.float32(0.7)),
         lambda a, b: np.array([0.1, 0.4, 0.7], np.float32), rtol=1e-6, name="linspace-float32-tensors"),
]
