"""The storage layer: every SQL statement of the product is built here, from the SQLModel tables in bot.models,
with SQLAlchemy's public Core and ORM APIs. Handlers and the domain call these functions; nothing above this
layer writes SQL."""
