"""Tests of the model: environment files, AWS rules, topology."""
