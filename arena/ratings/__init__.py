"""Ratings: the paper's Elo, Bradley-Terry, relative-to-baseline scores and judge diagnostics, as pure
functions of arrays built once from judgments."""
