"""Throwaway PostgreSQL and Apache Kafka servers for development and the test session."""
