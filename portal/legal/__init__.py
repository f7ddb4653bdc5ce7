"""The logs the law requires: real-name log, archive and its seals, export."""
