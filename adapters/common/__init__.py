"""Pieces more than one adapter uses; none of them is an adapter itself."""
