"""The built-in labelled example titles of the embedding classifier (one class each).

Written for this purpose (no real project's titles), phrased the way PR titles are when no
label, conventional-commit prefix or branch name tells their kind: the PRs the classifier sees.
``PAIRS`` put a feature and a non-feature on the same topic, so that among a PR's nearest
examples the topic (what titles share most) cancels out and the kind of change decides.
Users add their own with ``--ai-learn`` (docs/metrics.md).
"""

from __future__ import annotations

SEED_EXAMPLES: dict[str, tuple[str, ...]] = {
    "feature": (
        "Dark mode for the settings page",
        "Export reports as CSV",
        "Users can now reset their password by email",
        "Two-factor authentication with TOTP apps",
        "Webhook notifications when a build finishes",
        "Bulk edit for tags in the admin panel",
        "Search box on the documentation site",
        "Invite teammates to a workspace",
        "Scheduled jobs can run every five minutes",
        "Slack integration for alerts",
        "Drag and drop file uploads",
        "Keyboard shortcuts for the editor",
        "New endpoint to list a user's subscriptions",
        "Filter orders by date range",
        "Multi-language support in the mobile app",
        "Show a preview of markdown comments",
        "SSO login with SAML",
        "Let admins archive old projects",
        "Pagination for the audit log API",
        "Command line flag to skip the confirmation prompt",
        "Dashboard widget showing weekly signups",
        "Allow customers to download invoices as PDF",
        "Offline mode for the reader",
        "Rate limits configurable per API key",
    ),
    "fix": (
        "Crash when the config file is empty",
        "Null pointer exception on logout",
        "Wrong timezone in the daily digest email",
        "Broken link in the footer",
        "Memory leak in the websocket handler",
        "Race condition when two workers claim a job",
        "Login button does nothing on Safari",
        "Off-by-one error in pagination",
        "Handle missing avatar images gracefully",
        "Prevent duplicate charges on retry",
        "Correct rounding of invoice totals",
        "Import fails on files with a BOM",
    ),
    "refactor": (
        "Extract the payment client into its own module",
        "Rename UserManager to AccountService",
        "Split the settings view into smaller components",
        "Simplify error handling in the parser",
        "Move database helpers to a shared package",
        "Clean up unused imports",
        "Replace callbacks with async/await in the uploader",
        "Reorganise the folder structure of the API layer",
    ),
    "docs": (
        "Update README installation steps",
        "Document the webhook payload format",
        "Improve docstrings in the storage module",
        "Changelog for version 2.3",
        "Typos in the contributing guide",
        "Explain environment variables in the deployment guide",
        "API reference for the search endpoint",
        "Architecture overview diagram in the docs",
    ),
    "chore": (
        "Bump lodash from 4.17.20 to 4.17.21",
        "Update dependencies",
        "Upgrade React to version 18",
        "Pin the numpy version",
        "Release 1.4.0",
        "Regenerate the lock file",
        "Update copyright year",
        "Remove the deprecated settings flag",
    ),
    "test": (
        "Unit tests for the invoice calculator",
        "Increase coverage of the auth middleware",
        "Integration tests against a real PostgreSQL",
        "Flaky test in the scheduler suite",
        "Snapshot tests for the email templates",
        "Test fixtures for the GitHub API responses",
    ),
    "ci": (
        "Run the test suite on Python 3.12 in CI",
        "Cache node modules in the GitHub Actions workflow",
        "Nightly build pipeline",
        "Lint step in the CI workflow",
        "Publish Docker images from the release job",
        "Speed up the CI matrix",
    ),
    "perf": (
        "Speed up the search query with an index",
        "Reduce memory use of the CSV importer",
        "Cache the exchange rates for an hour",
        "Batch database writes in the sync job",
        "Lazy load images on the gallery page",
        "Avoid N+1 queries on the orders page",
    ),
}

# (topic: feature title, non-feature class, non-feature title)
PAIRS: tuple[tuple[str, str, str], ...] = (
    ("Sign in with a Google account", "fix", "Sign-in page spins forever after a wrong password"),
    ("Remember me option on the login form", "fix", "Session cookie not cleared on logout"),
    ("Full-text search across all projects", "fix", "Search results empty for words with accents"),
    ("Filters for status and assignee in search", "perf", "Search results page loads faster"),
    ("Download the activity log as CSV", "fix", "CSV download has the columns in the wrong order"),
    ("Import users from a spreadsheet", "fix", "Spreadsheet import skips the last row"),
    ("Email digest of unread notifications", "fix", "Notification emails sent twice"),
    ("Browser notifications for new messages", "fix", "Message badge count never resets"),
    ("Pay invoices by bank transfer", "fix", "Invoice PDF shows the wrong tax rate"),
    ("Annual billing plans with a discount", "fix", "Subscription renewal charges the old price"),
    ("Upload several files at once", "fix", "Upload fails for files larger than 2 GB"),
    ("Folders for organising documents", "fix", "Moving a document loses its comments"),
    (
        "Endpoint to fetch a project's members",
        "fix",
        "Members endpoint returns 500 for archived projects",
    ),
    ("Webhooks for issue events", "fix", "Webhook signature check rejects valid payloads"),
    ("Charts of response times on the dashboard", "fix", "Dashboard chart axis labels overlap"),
    ("Customisable dashboard layout", "perf", "Dashboard renders in half the time"),
    ("Cron-style schedules for background jobs", "fix", "Jobs scheduled at midnight run twice"),
    ("Priorities for queued jobs", "fix", "Worker stops picking up jobs after a restart"),
    ("Offline support in the mobile app", "fix", "App crashes on Android 14 when rotating"),
    ("Biometric unlock on iOS", "fix", "Keyboard covers the input field on small phones"),
    (
        "Role-based access control for projects",
        "fix",
        "Viewers can edit settings they should not see",
    ),
    (
        "Custom roles with chosen permissions",
        "refactor",
        "Move the permission checks into one module",
    ),
    ("Comment threads on code lines", "fix", "Comments lose their formatting after editing"),
    ("Mention teammates with @ in comments", "fix", "Mentions of deleted users show an error"),
    (
        "Crop and rotate images before upload",
        "fix",
        "Thumbnails are rotated for photos from phones",
    ),
    (
        "Translations for German and Japanese",
        "fix",
        "Dates shown in the wrong format for French users",
    ),
    ("Interface for choosing the language", "chore", "Update the translation files"),
    ("Personal access tokens with expiry dates", "fix", "Expired tokens are still accepted"),
    ("Monthly usage report per team", "fix", "Usage report counts deleted users"),
    ("Shared team calendars", "fix", "Calendar events shift by one hour after daylight saving"),
    ("Group chats with up to 50 people", "fix", "Chat history does not load past 100 messages"),
    ("One-click rollback of a deployment", "fix", "Deploy hangs when the health check times out"),
    ("Canary releases for a percentage of users", "ci", "Release workflow uploads artifacts once"),
    (
        "Soft delete and restore of records",
        "fix",
        "Migration fails on databases with existing data",
    ),
    ("Profile pages with a bio and links", "fix", "Profile picture upload returns an error"),
    ("Create teams and invite members", "fix", "Invitation links expire immediately"),
    ("Usage-based pricing for API calls", "perf", "Reduce database load of the usage counter"),
    ("Activity history for every record", "perf", "Audit log query times out on large accounts"),
    ("Rich text formatting in the editor", "fix", "Editor loses the cursor position on paste"),
    ("Resizable and reorderable table columns", "fix", "Table header misaligned when scrolling"),
    ("Generate a PDF of any report", "fix", "PDF export cuts off long tables"),
    ("Light and dark themes that follow the system", "fix", "Dark theme text unreadable in menus"),
    ("Guided tour for new users", "docs", "Getting started guide for new contributors"),
    ("Subscriptions in the GraphQL API", "fix", "GraphQL query with fragments returns null"),
    ("Toggle beta features per account", "chore", "Remove the expired beta toggles"),
    ("Encrypted secrets stored per environment", "fix", "Secrets printed in the build log"),
    ("New subcommand to list recent runs", "fix", "The CLI ignores the --quiet flag"),
    ("Progress bar for long exports", "test", "Tests for the export progress callbacks"),
)


def seed_examples() -> list[tuple[str, str]]:
    """Every built-in ``(label, title)``."""
    out = [(label, text) for label, texts in SEED_EXAMPLES.items() for text in texts]
    for feature, label, other in PAIRS:
        out += [("feature", feature), (label, other)]
    return out
