"""The CUDA backend (numba-cuda, the optional ``graphjit[cuda]`` extra): ``backend`` registers it; ``writer``
writes a compiled stage's elementwise loops and reductions as CUDA kernels; ``scalar`` renders the ops' scalar
rules with CUDA's math library. Imported only when a CUDA device is asked for (``runtime.devices``)."""
