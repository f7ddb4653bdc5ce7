"""Tests of portal/legal/: real-name log, archive and seals, export, log text."""
