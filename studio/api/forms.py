"""The token page's form (account settings → API tokens): its shape only; the service decides."""

from django import forms

from studio.models import TokenScope

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "A year"), ("", "Never")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What uses it, e.g. “render farm dashboard”.")
    scopes = forms.MultipleChoiceField(choices=TokenScope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[TokenScope.READ])
    expires_in_days = forms.TypedChoiceField(label="Expires after", choices=EXPIRY_CHOICES, coerce=int,
                                             empty_value=None, initial="90", required=False)
