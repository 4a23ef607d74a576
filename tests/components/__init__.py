"""Tests of the Pulumi program: components and stack programs under mocks."""
