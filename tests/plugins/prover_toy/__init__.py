"""A toy proof assistant plugged into prover: states are integers, tactics `add N` / `sub N`."""
