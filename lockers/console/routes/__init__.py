"""One ``APIRouter`` per area; every route declares the role it needs as a dependency."""
