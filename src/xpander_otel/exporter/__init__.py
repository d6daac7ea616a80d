"""The span exporter: span records -> assembler -> task reports -> durable delivery."""

from .exporter import XpanderSpanExporter
from .processor import XpanderSpanProcessor

__all__ = ["XpanderSpanExporter", "XpanderSpanProcessor"]
