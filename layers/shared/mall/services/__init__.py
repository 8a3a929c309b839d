"""Application services: one function per use case. They load what the domain needs
through repositories, let the domain decide, and persist the outcome."""
