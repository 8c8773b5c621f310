"""PISA's gRPC protocol: our `server.proto` and the stubs grpcio-tools generated from it.

The generated modules import grpc and protobuf; import them only where a backend needs them.
Regenerate after editing the .proto: `python -m environments.isabelle.proto.regenerate`.
"""
