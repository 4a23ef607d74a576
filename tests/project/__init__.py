"""Tests of the project itself: README truths and the shipped workflows."""
