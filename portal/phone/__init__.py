"""The phone's journey as use cases free of Flask: context, SMS code, login, returning
phones and ads, silent logins, the AC listener's policy."""
