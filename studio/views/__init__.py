"""Views: parse the request, check access (studio/access.py), call one service or selector, render."""
