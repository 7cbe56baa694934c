"""AutoGraph-lite: the source rewrite that lets ``@gj.function`` bodies branch and loop on tensors.

``convert(fn)`` parses ``fn``'s source and rewrites, in its own body (nested functions and lambdas are left as
they are):

- ``if test: ... else: ...`` into two branch functions and ``ag__.if_stmt(test, true_fn, false_fn, names)``;
  the branches take and return the variables either one assigns. An ``if`` whose body ends in ``return`` takes
  the statements after it as its ``else`` (so early returns work), and an ``if`` whose branches both return
  becomes ``return ag__.if_stmt(...)``.
- ``while test: ...`` into test and body functions and ``ag__.while_stmt``; ``for x in iterable: ...`` into a
  body function and ``ag__.for_stmt`` (``range(...)`` in that position becomes ``ag__.range_(...)``, which
  accepts tensor bounds).

What runs is decided at run time by ``tracer.autograph_runtime``: a Python condition (or an eager tensor's
value) runs the plain Python statement; a symbolic tensor stages ``gj.cond`` / ``gj.while_loop``, as TF's
AutoGraph does. Loops and branches holding ``break``, ``continue``, ``return`` (other than the cases above),
``yield``, ``global`` or ``nonlocal`` are left unconverted, with their test wrapped so that a tensor there
raises a clear error at the user's line instead of running as Python.

The rewritten function is compiled against the original file name and line numbers, with the original globals
and closure cells, so errors and tracebacks point at the user's code. Functions whose source is unavailable
(REPL lambdas, builtins, C functions) are returned unchanged.
"""
import ast
import inspect
import linecache
import opcode
import textwrap
import types
import weakref

from . import autograph_runtime, source

_converted = weakref.WeakKeyDictionary()   # python function -> its converted version (or itself)
_AG = "ag__"


def convert(fn):
    """``fn`` with its tensor-dependent control flow rewritten (cached per function); ``fn`` itself when its
    source is unavailable or it holds nothing to convert."""
    try:
        found = _converted.get(fn)
    except TypeError:   # not weakly referenceable (a builtin): nothing to convert
        return fn
    if found is None:
        found = _convert(fn)
        _converted[fn] = found
    return found


def _convert(fn):
    code = getattr(fn, "__code__", None)
    if not isinstance(fn, types.FunctionType) or code.co_name == "<lambda>" or code.co_filename.startswith(
            source._OWN_DIRS):   # graphjit's own functions (gj.transpose...) run as written
        return fn
    if not _branches(code):   # no if, while or for of its own: nothing to convert, no source to read
        return fn
    try:   # the code object's source: fn's own, never that of a function it wraps (__wrapped__)
        lines, first_line = _source_lines(fn, code)
        try:
            tree = ast.parse(textwrap.dedent("".join(lines[:_last_line(code) - first_line + 1])))
        except SyntaxError:   # (a block ending in statements without code, such as ``pass``)
            tree = ast.parse(textwrap.dedent("".join(inspect.getblock(lines))))
    except (OSError, TypeError, SyntaxError, IndexError):
        return fn
    definition = tree.body[0] if tree.body and isinstance(tree.body[0], ast.FunctionDef) else None
    if definition is None or definition.name != code.co_name:
        return fn
    converter = _Converter()
    definition.body = converter.block(definition.body)
    if not converter.changed:
        return fn
    definition.decorator_list = []
    ast.increment_lineno(tree, first_line - 1)
    return _rebuild(fn, definition)


_JUMPS = frozenset(opcode.hasjrel) | frozenset(opcode.hasjabs) | frozenset(getattr(opcode, "hasjump", ()))


def _branches(code):
    """Whether ``code`` itself (not the functions nested in it) holds a jump: every if, while and for does, so
    a function without one has nothing to convert. (Reading its source instead costs the first trace in a
    process ~45 ms: inspect's block finder compiles tokenize's regular expressions.)"""
    ops = code.co_code
    return any(ops[k] in _JUMPS for k in range(0, len(ops), 2))


def _last_line(code):
    """The last source line of ``code``'s instructions, nested code included (Python 3.11+), else a huge number
    (then the caller's parse falls back to inspect's block finder on the lines to the end of the file)."""
    positions = getattr(code, "co_positions", None)
    if positions is None:
        return 1 << 60
    last = max((end for _, end, _, _ in positions() if end is not None), default=code.co_firstlineno)
    nested = [_last_line(c) for c in code.co_consts if isinstance(c, types.CodeType)]
    return max([last] + nested)


def _source_lines(fn, code):
    """(lines from ``code``'s definition to the end of its file, first line number), read straight from
    ``linecache``: for a code object, inspect first looks for its module by scanning every module in
    ``sys.modules`` (a realpath per module: 40-100 ms of a function's first call)."""
    linecache.checkcache(code.co_filename)
    lines = linecache.getlines(code.co_filename, fn.__globals__)
    start = code.co_firstlineno - 1
    if not lines or not 0 <= start < len(lines):
        raise OSError("could not get source code")
    return lines[start:], code.co_firstlineno


def _rebuild(fn, definition):
    """Compiles the rewritten ``definition`` as a function with ``fn``'s globals, closure cells and defaults."""
    free = fn.__code__.co_freevars
    factory = ast.FunctionDef(name="__graphjit_autograph_factory__",
                              args=ast.arguments(posonlyargs=[], args=[ast.arg(_AG)] + [ast.arg(n) for n in free],
                                                 kwonlyargs=[], kw_defaults=[], defaults=[]),
                              body=[definition, ast.Return(ast.Name(definition.name, ast.Load()))], decorator_list=[],
                              returns=None, type_params=[])
    module = ast.Module(body=[factory], type_ignores=[])
    ast.fix_missing_locations(module)
    ast.copy_location(factory, definition)
    filename = fn.__code__.co_filename
    code = compile(module, filename, "exec")
    factory_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    inner = next(c for c in factory_code.co_consts if isinstance(c, types.CodeType) and c.co_name == fn.__name__)
    cells = dict(zip(free, fn.__closure__ or ()))
    cells[_AG] = types.CellType(autograph_runtime)
    closure = tuple(cells[name] for name in inner.co_freevars)
    converted = types.FunctionType(inner, fn.__globals__, fn.__name__, fn.__defaults__, closure)
    converted.__kwdefaults__ = fn.__kwdefaults__
    converted.__dict__.update(fn.__dict__)
    converted.__wrapped_by_autograph__ = fn
    linecache.checkcache(filename)
    return converted


# ---- the rewrite ------------------------------------------------------------------------------------------

class _Converter:
    def __init__(self):
        self.changed = False
        self._count = 0

    def _name(self, kind):
        self._count += 1
        return f"{_AG}{kind}_{self._count}"   # the reserved prefix: never a user variable (see _assigned)

    def block(self, statements):
        """A statement list, rewritten; an ``if`` ending in ``return`` absorbs the statements after it."""
        out = []
        for k, stmt in enumerate(statements):
            if isinstance(stmt, ast.If) and not stmt.orelse and _ends_in_return(stmt.body) and k + 1 < len(statements):
                rest = statements[k + 1:]
                if _ends_in_return(rest):
                    stmt.orelse = rest
                    out.extend(self.statement(stmt))
                    return out
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt):
        if isinstance(stmt, ast.If):
            return self._if(stmt)
        if isinstance(stmt, ast.While):
            return self._while(stmt)
        if isinstance(stmt, ast.For):
            return self._for(stmt)
        for field in ("body", "orelse", "finalbody"):    # with/try blocks: convert what is inside them
            if isinstance(stmt, (ast.With, ast.Try)) and isinstance(getattr(stmt, field, None), list):
                setattr(stmt, field, self.block(getattr(stmt, field)))
        if isinstance(stmt, ast.Try):
            for handler in stmt.handlers:
                handler.body = self.block(handler.body)
        return [stmt]

    # -- if --

    def _if(self, stmt):
        body, orelse = self.block(stmt.body), self.block(stmt.orelse)   # inner statements first
        if (_ends_in_return(body) and _ends_in_return(orelse) and not _jumps(body, allow_final_return=True)
                and not _jumps(orelse, allow_final_return=True)):
            return self._if_returning(stmt, body, orelse)
        if _jumps(body) or _jumps(orelse):
            stmt.body, stmt.orelse = body, orelse
            return [self._guarded(stmt, "an if statement", "holds break, continue or return")]
        names = sorted(_assigned(body) | _assigned(orelse))
        true_fn, false_fn = self._name("if_true"), self._name("if_false")
        self.changed = True
        out = _predeclare(names, stmt)
        out.append(_branch(true_fn, names, body, names, stmt))
        out.append(_branch(false_fn, names, orelse, names, stmt))
        call = _call("if_stmt", [stmt.test, ast.Name(true_fn, ast.Load()), ast.Name(false_fn, ast.Load()),
                                 _names_tuple(names), _loads(names)], stmt)
        out.append(_assign(names, call, stmt))
        return out

    def _if_returning(self, stmt, body, orelse):
        true_fn, false_fn = self._name("if_true"), self._name("if_false")
        self.changed = True
        out = [_branch(true_fn, [], body, None, stmt), _branch(false_fn, [], orelse, None, stmt)]
        call = _call("if_stmt", [stmt.test, ast.Name(true_fn, ast.Load()), ast.Name(false_fn, ast.Load()),
                                 ast.Tuple([], ast.Load()), ast.Tuple([], ast.Load())], stmt)
        out.append(ast.copy_location(ast.Return(call), stmt))
        return out

    # -- loops --

    def _while(self, stmt):
        body = self.block(stmt.body)
        if stmt.orelse or _jumps(body, loop=True):
            stmt.body = body
            return [self._guarded(stmt, "a while loop", "holds break, continue, return or an else clause")]
        names = sorted(_assigned(body))
        test_fn, body_fn = self._name("loop_test"), self._name("loop_body")
        self.changed = True
        out = _predeclare(names, stmt)
        out.append(_function(test_fn, names, [ast.Return(stmt.test)], stmt))
        out.append(_branch(body_fn, names, body, names, stmt))
        call = _call("while_stmt", [ast.Name(test_fn, ast.Load()), ast.Name(body_fn, ast.Load()),
                                    _names_tuple(names), _loads(names)], stmt)
        out.append(_assign(names, call, stmt))
        return out

    def _for(self, stmt):
        body = self.block(stmt.body)
        if stmt.orelse or _jumps(body, loop=True) or not isinstance(stmt.target, (ast.Name, ast.Tuple)):
            stmt.body = body
            return [self._guarded(stmt, "a for loop", "holds break, continue, return or an else clause")]
        iterable = stmt.iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id == "range":
            iterable = ast.copy_location(ast.Call(_attribute("range_"), iterable.args, iterable.keywords), iterable)
        target_names = _assigned([ast.Assign([stmt.target], ast.Constant(None))])
        names = sorted(_assigned(body) - target_names)
        body_fn, item = self._name("loop_body"), self._name("item")
        self.changed = True
        out = _predeclare(names, stmt)
        unpack = ast.copy_location(ast.Assign([stmt.target], ast.Name(item, ast.Load())), stmt)
        out.append(_branch(body_fn, [item] + names, [unpack] + body, names, stmt))
        call = _call("for_stmt", [iterable, ast.Name(body_fn, ast.Load()), _names_tuple(names), _loads(names)], stmt)
        out.append(_assign(names, call, stmt))
        return out

    def _guarded(self, stmt, what, why):
        """The statement left as Python, its test checked: a tensor there is a clear error, not a Python bool."""
        if isinstance(stmt, (ast.If, ast.While)):
            stmt.test = _call("python_test", [stmt.test, ast.Constant(f"{what} that {why}")], stmt.test)
        elif isinstance(stmt, ast.For):
            stmt.iter = _call("python_iterable", [stmt.iter, ast.Constant(f"{what} that {why}")], stmt.iter)
        self.changed = True
        return stmt


# ---- AST helpers ------------------------------------------------------------------------------------------

def _attribute(name):
    return ast.Attribute(ast.Name(_AG, ast.Load()), name, ast.Load())


def _call(name, args, where):
    return ast.copy_location(ast.Call(_attribute(name), args, []), where)


def _names_tuple(names):
    return ast.Tuple([ast.Constant(n) for n in names], ast.Load())


def _loads(names):
    return ast.Tuple([ast.Name(n, ast.Load()) for n in names], ast.Load())


def _assign(names, value, where):
    if not names:
        return ast.copy_location(ast.Expr(value), where)
    return ast.copy_location(ast.Assign([ast.Tuple([ast.Name(n, ast.Store()) for n in names], ast.Store())], value),
                             where)


def _function(name, params, body, where):
    args = ast.arguments(posonlyargs=[], args=[ast.arg(p) for p in params], kwonlyargs=[], kw_defaults=[], defaults=[])
    fn = ast.FunctionDef(name=name, args=args, body=body or [ast.Pass()], decorator_list=[], returns=None,
                         type_params=[])
    return ast.copy_location(fn, where)


def _branch(name, params, body, returned, where):
    """A function of ``params`` running ``body`` and returning ``returned``'s values (None: body returns)."""
    if returned is not None:
        body = list(body) + [ast.Return(_loads(returned))]
    return _function(name, params, body, where)


def _predeclare(names, where):
    """``try: x / except NameError: x = ag__.Undefined('x')`` per name: a variable first assigned inside the
    statement exists (as an Undefined marker) before it, so the branch and loop functions can be passed it."""
    out = []
    for n in names:
        handler = ast.ExceptHandler(ast.Name("NameError", ast.Load()), None,
                                    [ast.Assign([ast.Name(n, ast.Store())],
                                                _call("Undefined", [ast.Constant(n)], where))])
        out.append(ast.copy_location(ast.Try([ast.Expr(ast.Name(n, ast.Load()))], [handler], [], []), where))
    return out


def _assigned(statements):
    """Names a statement list binds in this function's scope (not inside nested functions or classes)."""
    found = set()

    def targets(node):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for e in node.elts:
                targets(e)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Assign):
            for t in node.targets:
                targets(t)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets(node.target)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            targets(node.target)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets(node.optional_vars)
        elif isinstance(node, ast.NamedExpr):
            targets(node.target)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update((a.asname or a.name).split(".")[0] for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)
    for stmt in statements:
        visit(stmt)
    return {n for n in found if not n.startswith(_AG)}   # the rewrite's own functions are not user state


def _ends_in_return(statements):
    return bool(statements) and isinstance(statements[-1], ast.Return)


def _jumps(statements, loop=False, allow_final_return=False):
    """Whether ``statements`` hold a jump the functional rewrite cannot express: ``return`` (except a final one
    when allowed), ``yield``, ``global``/``nonlocal``, and ``break``/``continue`` that leave them (``loop``: the
    statements are a loop body, so its own break/continue count too)."""
    body = statements[:-1] if allow_final_return and _ends_in_return(statements) else statements

    def visit(node, in_loop):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return False
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal)):
            return True
        if isinstance(node, (ast.Break, ast.Continue)) and not in_loop:
            return True
        inner = in_loop or isinstance(node, (ast.For, ast.While, ast.AsyncFor))
        if isinstance(node, (ast.For, ast.While)):
            return any(visit(c, True) for c in node.body) or any(visit(c, in_loop) for c in node.orelse) or \
                visit(node.iter if isinstance(node, ast.For) else node.test, in_loop)
        return any(visit(c, inner) for c in ast.iter_child_nodes(node))
    return any(visit(s, False) for s in body)
