"""Restoration methods registry and the classical baselines."""

from .registry import Method, available_methods, composite, get_method, register_method

__all__ = ["Method", "available_methods", "composite", "get_method", "register_method"]
