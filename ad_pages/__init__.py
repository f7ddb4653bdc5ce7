"""Sandboxed venue pages, default templates, ad campaigns and redirect rules. A library."""
