"""Tests of deployment: the engine, its runners, ephemeral environments."""
