"""The venue console (``/venue``): settings, page editor, ad campaigns."""
