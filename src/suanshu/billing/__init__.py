"""Metering, rating and invoicing (计量与结算): usage in, invoice lines and settlement transfers out."""
