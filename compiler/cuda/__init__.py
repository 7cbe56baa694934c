"""The CUDA backend (numba-cuda, the optional ``graphjit[cuda]`` extra): ``backend`` registers it; ``writer``
writes a compiled stage's loops, reductions, matmuls, softmax rows and gathers as CUDA kernels; ``scalar`` renders the ops' scalar
rules with CUDA's math library; ``memory`` holds device arrays, the counted host <-> device copies and
``__cuda_array_interface__`` in and out; ``eager`` compiles eager ops on the GPU as one-op graphs, once per op
kind; ``blas`` reaches cuBLAS through CuPy where it can; ``sized`` runs a graph over symbolic sizes as one specialisation per size met. Imported only when a CUDA device is asked for (``runtime.devices``)."""
