from arena.cli import main

# Guarded: libraries that spawn worker processes (vLLM) import the main module again in each child.
if __name__ == "__main__":
    raise SystemExit(main())
