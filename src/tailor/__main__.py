"""`python -m tailor ...`, which is what `torchrun --nproc_per_node N -m tailor train CONFIG` runs."""

from tailor.cli import main

if __name__ == "__main__":
    main()
