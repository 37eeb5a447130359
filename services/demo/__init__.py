"""The demo of ``make run``: a synthetic, scaled Flanders and a simulated year of activity driven
through the platform's public interfaces (the population feed and the services' gRPC APIs)."""
