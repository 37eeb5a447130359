"""Training enrolments context: providers, offers and the enrolment lifecycle.

``domain/`` holds the pure rules (no I/O); service, adapters and entrypoints wire them to
MongoDB, Kafka and gRPC.
"""
