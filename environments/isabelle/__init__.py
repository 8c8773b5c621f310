"""Isabelle through PISA (Portal to ISAbelle): our gRPC client, server lifecycle, sessions.

client.py talks PISA's protocol (proto/ holds our .proto and the generated stubs); server.py and
pool.py start, attach to, and replace PISA servers; session.py runs one theorem; environment.py is
the `isabelle` entry point; doctor.py holds the `prover doctor` checks.
"""
