"""graphjit.compiler: graph passes, fusion, lowering to backends, kernel cache."""
from graphjit.tracer.source import add_package_dir

add_package_dir(__file__)
