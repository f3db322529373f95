"""Phalanx trading domain: messages, orders, positions, brokers, clocks. No Ray, no DuckDB."""
