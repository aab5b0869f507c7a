"""SQL the repositories share."""

USER_BY_ID = "SELECT id, IFNULL(name, '(none)') AS name FROM users WHERE id = ?"

ACTIVE_USERS = "SELECT COUNT(*) FROM users WHERE is_active = 1"

OLDER_USERS_PLAN = (
    "SELECT id, json_extract(metadata, '$.plan') AS plan FROM users "
    "WHERE json_extract(metadata, '$.age') > 30"
)

SIGNUPS_BY_MONTH = """
SELECT strftime('%Y-%m', created_at) AS month, COUNT(*) AS n
FROM users
GROUP BY month
ORDER BY month
"""

CHATTY_USERS = "SELECT user_id, COUNT(*) AS n FROM messages GROUP BY user_id HAVING n > 1"
