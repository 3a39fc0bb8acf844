//! What an operator can do about the answers of Microsoft's sign-in service (AADSTS codes),
//! Exchange Online's SMTP replies and Microsoft Graph's error codes: one line each, naming
//! the setting or the Entra/Exchange step that is missing. Pure: text in, text out.
//!
//! The meanings are Microsoft's own (the Entra "AADSTS error codes" reference, the Exchange
//! Online "SMTP AUTH" and "Authenticate an IMAP, POP or SMTP connection using OAuth"
//! articles, Graph's `sendMail` reference); the wording of the advice is ours.

/// The AADSTS number in a token endpoint's `error_description`
/// ("AADSTS7000215: Invalid client secret provided. …"), if there is one.
pub fn aadsts_code(description: &str) -> Option<u32> {
    let start = description.find("AADSTS")? + "AADSTS".len();
    let digits: String = description[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// What to do about a sign-in error, by its AADSTS number.
pub fn aadsts(code: u32) -> Option<&'static str> {
    Some(match code {
        7000215 => {
            "the client secret is wrong: put the secret's Value (not its Secret ID) in client_secret_file"
        }
        7000222 => {
            "the client secret has expired: create a new one under the app registration's Certificates & secrets and put it in client_secret_file"
        }
        7000218 => "no client secret was sent: check client_secret_file",
        700016 => {
            "no application with this client_id in this tenant: check client_id and tenant, and that admin consent was granted in this tenant"
        }
        90002 | 900023 => {
            "the tenant was not found: check tenant (the directory ID or a domain such as region.onmicrosoft.com)"
        }
        65001 => {
            "admin consent is missing: grant admin consent for the app's API permissions (Entra admin center, API permissions)"
        }
        7000229 => {
            "the app has no service principal (enterprise application) in this tenant: grant admin consent, which creates it"
        }
        500011 => {
            "the resource in scope is not known in this tenant: check scope, and for Exchange that the Office 365 Exchange Online service is in the tenant"
        }
        1002012 | 70011 => {
            "the scope is not valid for this grant: a client-credentials token needs a scope ending in /.default"
        }
        7000112 => "the application is disabled: enable it in the Entra admin center",
        53003 => {
            "a Conditional Access policy blocked the app's sign-in: ask the tenant's Entra administrators"
        }
        _ => return None,
    })
}

/// What to do about an SMTP reply from Exchange Online (or a server that words its
/// refusals the same way), from its code and text; `oauth2` says how we signed in.
pub fn smtp(code: &str, text: &str, oauth2: bool) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("5.7.139") || lower.contains("basic authentication is disabled") {
        return Some(if lower.contains("for the mailbox") {
            "SMTP AUTH is disabled for this mailbox: Set-CASMailbox -Identity MAILBOX -SmtpClientAuthenticationDisabled $false"
        } else if lower.contains("for the tenant") {
            "SMTP AUTH is disabled for the tenant: enable it for this mailbox with Set-CASMailbox -Identity MAILBOX -SmtpClientAuthenticationDisabled $false"
        } else {
            "Exchange Online refuses passwords (basic authentication): use mail.smtp.auth = \"oauth2\" or mail.transport = \"graph\" (README, \"Skicka via Microsoft 365\")"
        });
    }
    if lower.contains("5.7.57") {
        return Some(
            "the server wants AUTH before MAIL FROM: configure mail.smtp.auth (and username) or use the organisation's relay",
        );
    }
    if lower.contains("5.7.60") || lower.contains("sendasdenied") {
        return Some(
            "the signed-in mailbox may not send as mail.from: sign in as the mailbox of mail.from, or grant it Send As",
        );
    }
    if code == "535" && oauth2 {
        return Some(
            "Exchange refused the token: register the app's service principal in Exchange (New-ServicePrincipal), give it the mailbox (Add-MailboxPermission … -AccessRights FullAccess), grant SMTP.SendAsApp with admin consent, and check that SMTP AUTH is enabled for the mailbox",
        );
    }
    if code == "535" {
        return Some(
            "the server refused the username or password; Exchange Online refuses passwords from tenants with basic authentication off: use auth = \"oauth2\"",
        );
    }
    None
}

/// What to do about a Graph `sendMail` error, by Graph's error code.
pub fn graph(code: &str) -> Option<&'static str> {
    Some(match code {
        "ErrorAccessDenied" | "AccessDenied" | "Authorization_RequestDenied" => {
            "Graph refused access: grant the Mail.Send application permission with admin consent, and check that the RBAC for Applications scope (or application access policy) includes this mailbox"
        }
        "ErrorSendAsDenied" => {
            "the mailbox may not send as mail.from: set mail.graph.sender to the mailbox of mail.from, or grant it Send As"
        }
        "MailboxNotEnabledForRESTAPI" | "MailboxNotSupportedForRESTAPI" => {
            "the sender has no Exchange Online mailbox (on-premises, or not licensed): use a cloud mailbox as mail.graph.sender"
        }
        "ErrorInvalidUser" | "ResourceNotFound" | "Request_ResourceNotFound" => {
            "no such mailbox: check mail.graph.sender"
        }
        "InvalidAuthenticationToken" => {
            "Graph did not accept the token: check tenant and that scope is https://graph.microsoft.com/.default"
        }
        "ErrorMessageSizeExceeded" => "the mail is larger than Exchange accepts",
        "ErrorMimeContentInvalidBase64String" | "ErrorMimeContentInvalid" => {
            "Graph could not read the message (a fault in iopd: report it)"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_are_found_in_descriptions() {
        // (error_description as Entra writes it, code)
        let rows = [
            (
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: x",
                Some(7000215),
            ),
            ("AADSTS90002: Tenant 'x' not found.", Some(90002)),
            ("invalid_client", None),
            ("AADSTS: nothing", None),
        ];
        for (text, code) in rows {
            assert_eq!(aadsts_code(text), code, "{text}");
        }
    }

    #[test]
    fn each_named_aadsts_code_says_what_to_fix() {
        // (code, a word the advice must contain)
        let rows = [
            (7000215, "Value"),
            (7000222, "expired"),
            (700016, "client_id"),
            (90002, "tenant"),
            (65001, "admin consent"),
            (7000229, "service principal"),
            (500011, "scope"),
        ];
        for (code, word) in rows {
            let hint = aadsts(code).unwrap_or_default();
            assert!(hint.contains(word), "{code}: {hint}");
        }
        assert_eq!(aadsts(1), None);
    }

    #[test]
    fn exchange_smtp_replies_name_the_missing_step() {
        // (code, text, signed in with OAuth2, a word the advice must contain)
        let rows = [
            (
                "535",
                "5.7.139 Authentication unsuccessful, basic authentication is disabled.",
                false,
                "oauth2",
            ),
            (
                "535",
                "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.",
                true,
                "Set-CASMailbox",
            ),
            (
                "535",
                "5.7.3 Authentication unsuccessful",
                true,
                "New-ServicePrincipal",
            ),
            (
                "535",
                "5.7.3 Authentication unsuccessful",
                true,
                "SMTP.SendAsApp",
            ),
            (
                "535",
                "5.7.3 Authentication unsuccessful",
                false,
                "password",
            ),
            (
                "530",
                "5.7.57 Client not authenticated to send mail.",
                false,
                "AUTH",
            ),
            (
                "554",
                "5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException",
                true,
                "Send As",
            ),
        ];
        for (code, text, oauth2, word) in rows {
            let hint = smtp(code, text, oauth2).unwrap_or_default();
            assert!(hint.contains(word), "{code} {text}: {hint}");
        }
        assert_eq!(smtp("550", "5.1.1 No such mailbox here", true), None);
    }

    #[test]
    fn graph_codes_name_the_missing_step() {
        assert!(
            graph("ErrorAccessDenied")
                .unwrap_or_default()
                .contains("Mail.Send")
        );
        assert!(
            graph("ErrorInvalidUser")
                .unwrap_or_default()
                .contains("mail.graph.sender")
        );
        assert_eq!(graph("SomethingElse"), None);
    }
}
