"""Generating the standard paperwork from Word templates (the generation
issue). So far: money and dates as the paperwork writes them."""

from archive_manager.generation.values import chinese_date, money, money_figures, money_upper

__all__ = ["chinese_date", "money", "money_figures", "money_upper"]
