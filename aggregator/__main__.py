"""``python -m aggregator`` and the ``aggregator`` console script.

The CLI is imported only when called: worker processes that parse feeds are spawned, and a
spawned process imports the script that started its parent again. Through this module that
costs nothing; through the CLI module it would load click, sqlite-utils, httpx and numpy into
every worker.
"""


def main() -> None:
    from .cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
