"""LeanDojo as a proof assistant (`--env lean-dojo`), behind its two entry points.

The rest of the project reaches this package only by name: `create` (the environment, in
environment.py) and `doctor_checks` (its `prover doctor` lines, doctor.py). Inside: settings.py
(LeanDojo's environment variables; the one module that imports LeanDojo), target.py (which repo,
commit and file a theorem is traced from), factory.py (building LeanDojo's `Dojo`), process.py
(stopping what a Dojo started), session.py (one theorem's tactic session) and recheck.py (the
lean-repl judge that makes its proofs count).
"""
