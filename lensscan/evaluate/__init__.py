"""Evaluation: the metrics lens searches report, with bootstrap intervals, plots and reports.

Covers labelled cutouts (``lensscan evaluate --model ... --data ...``) and field candidate
catalogs matched against a truth catalog (``lensscan evaluate --catalog ... --truth ...``).
"""
