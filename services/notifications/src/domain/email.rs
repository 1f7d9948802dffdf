//! A rendered message as an RFC 5322 e-mail (multipart/alternative: plain text, then HTML),
//! built by lettre so that headers are encoded and folded as the RFC requires. Names and
//! subjects come from customers and admins: their control characters become spaces first, so
//! a line break can neither add a header nor (lettre panics on one in a mailbox name) crash
//! the sender.

use lettre::{
    Message,
    message::{Mailbox, MultiPart, header::MessageId},
};

use super::templates::{Contact, Rendered};

/// Why an e-mail could not be built: an address that is not one.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("{which} address {address:?} is not an e-mail address: {reason}")]
    Address { which: &'static str, address: String, reason: String },
    #[error("building the message: {0}")]
    Build(String),
}

/// The e-mail from `from` to `to`, with `id` as its Message-ID (the notification's id, so a
/// resent copy is recognisably the same message).
pub fn build(from: &str, to: &Contact, rendered: &Rendered, id: &str) -> Result<Message, EmailError> {
    let from: Mailbox = from.parse().map_err(|e: lettre::address::AddressError| EmailError::Address {
        which: "sender",
        address: from.to_string(),
        reason: e.to_string(),
    })?;
    let address = to.email.parse().map_err(|e: lettre::address::AddressError| EmailError::Address {
        which: "recipient",
        address: to.email.clone(),
        reason: e.to_string(),
    })?;
    let domain = from.email.domain().to_string();
    Message::builder()
        .from(from)
        .to(Mailbox::new(Some(one_line(&to.display_name)), address))
        .subject(one_line(&rendered.subject))
        .header(MessageId::from(format!("<{id}@{domain}>")))
        .multipart(MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone()))
        .map_err(|e| EmailError::Build(e.to_string()))
}

/// `text` with every control character (CR, LF, tab, NUL, …) as a space.
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(subject: &str) -> Rendered {
        Rendered { subject: subject.into(), text: "Hello Zoë,\n".into(), html: "<p>Hello Zoë,</p>".into() }
    }

    fn contact(name: &str, email: &str) -> Contact {
        Contact { display_name: name.into(), email: email.into() }
    }

    #[test]
    fn an_email_carries_both_bodies_and_its_id() {
        let message =
            build("mercato <shop@mercato.test>", &contact("Zoë", "zoe@example.com"), &rendered("Order 1"), "n-1")
                .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("Subject: Order 1\r\n"), "{raw}");
        assert!(raw.contains("Message-ID: <n-1@mercato.test>\r\n"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"), "{raw}");
        assert!(raw.contains("zoe@example.com"), "{raw}");
    }

    #[test]
    fn a_name_with_a_line_break_cannot_add_a_header() {
        let sneaky = contact("Eve\r\nBcc: victim@example.com", "eve@example.com");
        let raw = String::from_utf8(build("shop@mercato.test", &sneaky, &rendered("Hi"), "n-2").unwrap().formatted())
            .unwrap();
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        let subject = Rendered { subject: "Hi\nX-Injected: 1".into(), ..rendered("") };
        let raw = String::from_utf8(build("shop@mercato.test", &sneaky, &subject, "n-2").unwrap().formatted()).unwrap();
        assert!(!raw.contains("\r\nX-Injected:"), "{raw}");
    }

    #[test]
    fn a_bad_address_is_an_error_not_a_panic() {
        let err = build("shop@mercato.test", &contact("X", "not an address"), &rendered("Hi"), "n-3").unwrap_err();
        assert!(err.to_string().contains("recipient"), "{err}");
        assert!(build("nobody", &contact("X", "x@example.com"), &rendered("Hi"), "n-4").is_err());
    }
}
