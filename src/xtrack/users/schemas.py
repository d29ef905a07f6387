from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    status: str
    is_admin: bool
    timezone: str
    theme: str
    created_at: datetime
    last_login_at: datetime | None
