"""One module per `python -m heartseg` command: add_arguments(parser) and run(args) -> exit code."""
