"""The `duyet` command: one module per area of sub-commands; the only place with argparse and print."""
