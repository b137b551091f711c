"""``python -m homeport``: the same CLI as the ``homeport`` console script."""

from homeport.cli import main

if __name__ == "__main__":
    main()
