"""Venues: the places phones meet, their pages, assets, ad campaigns and storage limits."""
