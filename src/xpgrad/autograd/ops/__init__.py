"""Built-in differentiable operations, one module per family, all on the Function contract."""
