"""Proof assistant backends: Lean 4 (REPL, LeanDojo), Isabelle (PISA), and trace replay."""
