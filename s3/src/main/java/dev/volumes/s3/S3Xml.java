package dev.volumes.s3;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;
import org.xml.sax.SAXException;

/**
 * The S3 XML bodies this client reads and writes: error answers, ListObjectsV2 results,
 * DeleteObjects requests and results. Parsing refuses DTDs and external entities (the body comes
 * from the network). Stateless.
 */
final class S3Xml {

    private S3Xml() {}

    /** A parsed error body; fields are "" when absent. */
    record Error(String code, String message, String requestId) {}

    /** One entry of a listing. */
    record Entry(String key, long size, String etag) {}

    /** One page of ListObjectsV2. */
    record ListPage(List<Entry> entries, boolean truncated, String nextContinuationToken) {}

    /** A per-key failure inside a 200 DeleteObjects answer. */
    record DeleteError(String key, String code, String message) {}

    static Document parse(byte[] body) throws IOException {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setXIncludeAware(false);
            f.setExpandEntityReferences(false);
            f.setNamespaceAware(false);
            DocumentBuilder b = f.newDocumentBuilder();
            b.setErrorHandler(null);
            return b.parse(new ByteArrayInputStream(body));
        } catch (ParserConfigurationException | SAXException e) {
            throw new IOException("malformed S3 XML answer (" + body.length + " bytes): " + e.getMessage(), e);
        }
    }

    /** The error code of an error body, or "" if the body is empty or not an S3 error. */
    static String errorCode(byte[] body) {
        return error(body).code();
    }

    static Error error(byte[] body) {
        if (body == null || body.length == 0) {
            return new Error("", "", "");
        }
        try {
            Element root = parse(body).getDocumentElement();
            if (!root.getTagName().equals("Error")) {
                return new Error("", "", "");
            }
            return new Error(text(root, "Code"), text(root, "Message"), text(root, "RequestId"));
        } catch (IOException e) {
            return new Error("", "", "");
        }
    }

    static ListPage listPage(byte[] body) throws IOException {
        Element root = parse(body).getDocumentElement();
        if (!root.getTagName().equals("ListBucketResult")) {
            throw new IOException("ListObjectsV2 answer is <" + root.getTagName() + ">, not <ListBucketResult>");
        }
        List<Entry> entries = new ArrayList<>();
        NodeList contents = root.getElementsByTagName("Contents");
        for (int i = 0; i < contents.getLength(); i++) {
            Element c = (Element) contents.item(i);
            String size = text(c, "Size");
            try {
                entries.add(new Entry(text(c, "Key"), size.isEmpty() ? 0 : Long.parseLong(size), text(c, "ETag")));
            } catch (NumberFormatException e) {
                throw new IOException("ListObjectsV2 entry has a bad Size '" + size + "'", e);
            }
        }
        boolean truncated = "true".equals(text(root, "IsTruncated"));
        String token = text(root, "NextContinuationToken");
        if (truncated && token.isEmpty()) {
            throw new IOException("ListObjectsV2 answer is truncated but has no NextContinuationToken");
        }
        return new ListPage(entries, truncated, token);
    }

    static List<DeleteError> deleteErrors(byte[] body) throws IOException {
        Element root = parse(body).getDocumentElement();
        List<DeleteError> out = new ArrayList<>();
        NodeList errors = root.getElementsByTagName("Error");
        for (int i = 0; i < errors.getLength(); i++) {
            Element e = (Element) errors.item(i);
            out.add(new DeleteError(text(e, "Key"), text(e, "Code"), text(e, "Message")));
        }
        return out;
    }

    static byte[] deleteRequest(List<String> keys) {
        StringBuilder sb = new StringBuilder("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                .append("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
        for (String k : keys) {
            sb.append("<Object><Key>").append(escape(k)).append("</Key></Object>");
        }
        return sb.append("</Delete>").toString().getBytes(StandardCharsets.UTF_8);
    }

    static byte[] createBucketRequest(String region) {
        return ("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + "<LocationConstraint>" + escape(region) + "</LocationConstraint></CreateBucketConfiguration>")
                .getBytes(StandardCharsets.UTF_8);
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '&' -> sb.append("&amp;");
                case '"' -> sb.append("&quot;");
                case '\'' -> sb.append("&apos;");
                default -> {
                    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                        sb.append("&#").append((int) c).append(';');
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.toString();
    }

    /** Text of the first direct child element named {@code name}, or "". */
    private static String text(Element parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) {
                return e.getTextContent();
            }
        }
        return "";
    }
}
