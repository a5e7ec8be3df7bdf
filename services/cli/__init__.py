"""The ``shotline`` command: one subcommand per service plus operator tools."""
