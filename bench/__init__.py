"""Benchmarks: ``make bench`` runs every script here; docs/benchmarks.md shows the figures."""

from __future__ import annotations

__all__: list[str] = []
