"""Demands (场景需求/RFQ), bids, acceptance, notifications (issue 8). Thin."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["demands"])
