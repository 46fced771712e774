"""One module per subcommand: ``add_parser(sub)`` and ``run(args) -> int``."""
